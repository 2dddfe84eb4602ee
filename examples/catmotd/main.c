/* Prints /etc/motd from the embedded initrd: proves kiln's einitrd reaches the guest. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char *argv[])
{
	char buf[256];
	int fd = open("/etc/motd", O_RDONLY);
	if (fd < 0) {
		printf("catmotd: cannot open /etc/motd\n");
		return 1;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	printf("catmotd: /etc/motd says: %s", buf);
	return 0;
}
