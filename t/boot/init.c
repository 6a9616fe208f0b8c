/*
 * init.c: the test root file system's /sbin/init (static). Says it was
 * reached, with the uptime, on the console, then powers the VM off: the
 * boot tests need only know that the real root was mounted and ran.
 */
#include <sys/reboot.h>

#include <stdio.h>
#include <time.h>
#include <unistd.h>

int
main(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	printf("\nMANDOSD-BOOT-TEST: real init reached, uptime %ld.%02ld s\n",
	    (long)ts.tv_sec, ts.tv_nsec / 10000000);
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	return (1);
}
