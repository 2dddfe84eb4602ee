/* The example app: proves app code runs and sees the kernel configuration. */
#include <testkernel.h>

int app_main(const char *args)
{
	tk_puts("app: hello from the test app\n");
#ifdef CONFIG_APP_GREETING
	tk_printf("app: greeting: %s\n", CONFIG_APP_GREETING);
#else
	tk_puts("app: greeting: (CONFIG_APP_GREETING not set)\n");
#endif
	tk_printf("app: args: %s\n", args);
	return 0;
}
