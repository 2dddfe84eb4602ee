# The test kernel's version, in the shape of Unikraft's version.mk.
UK_VERSION = 0
UK_SUBVERSION = 17
UK_EXTRAVERSION = 0
UK_CODENAME = Testkernel
