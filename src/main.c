/* main.c: mandosd's entry point; everything else is in libmandosd.a for the tests. */
#include "config.h"

#include "mandosd.h"

int
main(int argc, char **argv)
{
	return (mandosd_main(argc, argv));
}
