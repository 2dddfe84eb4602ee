# Library registration and source fetching for L= libraries' Makefile.uk,
# with the semantics and command lines of Unikraft RELEASE-0.17.0
# (support/build/Makefile.rules; the tools are from its top-level Makefile).
# Included by Makefile before the libraries' Makefile.uk files; expects
# BUILD_DIR (= O) and qstrip. See README.md ("Libraries with a Makefile.uk").

# Tools, with Unikraft's defaults. Plain `:=` assignments: a value given on
# make's command line replaces them (kiln can point WGET/GIT at its own programs).
RM        := rm -f
MKDIR     := mkdir
TOUCH     := touch
PATCH     := patch
TAR       := tar
UNZIP     := unzip -qq -u
GIT       := git
WGET      := wget
SHA1SUM   := sha1sum -b
SHA256SUM := sha256sum -b
SHA512SUM := sha512sum -b
MD5SUM    := md5sum -b

UK_FETCH :=
UK_FETCH-y :=
UK_LIBS :=
verbose_info =

# uc: upper case (letters only, like Unikraft's), so libfoo-bar -> LIBFOO-BAR.
_uc_lower := a b c d e f g h i j k l m n o p q r s t u v w x y z
_uc_upper := A B C D E F G H I J K L M N O P Q R S T U V W X Y Z
_uc = $(if $(2),$(call _uc,$(subst $(firstword $(2)),$(firstword $(3)),$(1)),$(wordlist 2,26,$(2)),$(wordlist 2,26,$(3))),$(1))
uc = $(call _uc,$(1),$(_uc_lower),$(_uc_upper))
# vprefix_lib $1:libname,$2:varname(s) -> LIBNAME_varname
vprefix_lib = $(addprefix $(call uc,$(1))_,$(2))

# A step line like Unikraft's ("  WGET    libfoo: <url>"); with V=1 the command itself.
ifeq ($(V),1)
verbose_cmd = $(3)
verbose_cmd_inner = printf '%s\n' '$(3)' && $(3)
else
verbose_cmd = @printf '  %-7s %s\n' '$(1)' '$(2)' && $(3)
verbose_cmd_inner = printf '  %-7s %s\n' '$(1)' '$(2)' && $(3)
endif

# ------------------------------------------------------------ registration
# addlib $1:libname -- registers a library: its <LIB>_SRCS / <LIB>_SRCS-y are
# compiled (objects in O/lib/<libname>/), <LIB>_BASE is the library directory,
# <LIB>_BUILD is $(BUILD_DIR)/<libname> (created now, as Unikraft does).
define addlib
UK_LIBS += $(1)
$(call uc,$(1))_BASE := $(IMPORT_BASE)
$(call uc,$(1))_BUILD := $(BUILD_DIR)/$(1)
$(if $(shell $(MKDIR) -p '$(BUILD_DIR)/$(1)' && echo ok),,$(error could not create directory "$(BUILD_DIR)/$(1)"))
endef
# addlib_s $1:libname,$2:switch -- registers it only if the switch is y.
define addlib_s
ifeq ($(2),y)
$(call addlib,$(1))
endif
endef

# ------------------------------------------------------------ checksums
# chksum_cmd $1:SHA1|SHA256|SHA512|MD5,$2:libname,$3:file,$4:expected -- fails
# with "<file>: <ALG> checksum validation failed" (needs bash's [[ =~ ]]).
# ($$$$: this text passes through $(call) once more before the recipe runs.)
chksum_cmd = $(call verbose_cmd,$(1),$(2)':' $(notdir $(3)),sum=$$$$($($(1)SUM) - < '$(3)') && [[ "$$$$sum" =~ ^$(call qstrip,$(4))[[:space:]] ]] || { echo "$(3): $(1) checksum validation failed" 1>&2; exit 1; })
# _chk $1:ALG,$2:libname,$3:file -- the check, if LIB<NAME>_ORIGIN_<ALG> is defined
_chk = $(if $(filter $(call vprefix_lib,$(2),ORIGIN_$(1)),$(.VARIABLES)),$(call chksum_cmd,$(1),$(2),$(3),$($(call vprefix_lib,$(2),ORIGIN_$(1)))))

# _chksum_origin $1:libname,$2:file,$3:stamp -- checks every LIB<NAME>_ORIGIN_<ALG>
# that is defined when fetch* is called, then touches the stamp (.chksum).
define _chksum_origin
$(3): $(2)
	$(call _chk,SHA1,$(1),$(2))
	$(call _chk,SHA256,$(1),$(2))
	$(call _chk,SHA512,$(1),$(2))
	$(call _chk,MD5,$(1),$(2))
	@$(TOUCH) $(3)
endef

# ------------------------------------------------------------ archives
# _extract_cmd $1:libname,$2:archive -- how each archive type is unpacked into origin/.
_extract_cmd = $(strip \
	$(if $(filter %.tar.gz %.tgz,$(2)),UNTAR $(TAR) -xzf $(2) -C $(BUILD_DIR)/$(1)/origin,\
	$(if $(filter %.tar.xz %.txz,$(2)),UNTAR $(TAR) -xJf $(2) -C $(BUILD_DIR)/$(1)/origin,\
	$(if $(filter %.tar.bz2 %.tbz2,$(2)),UNTAR $(TAR) -xjf $(2) -C $(BUILD_DIR)/$(1)/origin,\
	$(if $(filter %.zip,$(2)),UNZIP $(UNZIP) -d $(BUILD_DIR)/$(1)/origin $(2),\
	$(error $(2): missing extraction rule for archive type))))))

# unarchive $1:libname,$2:archive,$3:extra prerequisites -- extracts into
# $(BUILD_DIR)/<lib>/origin/ (stamp .origin) and sets LIB<NAME>_ORIGIN to it.
define unarchive
$(BUILD_DIR)/$(1)/.origin: $(2) $(3)
	$(call verbose_cmd,$(firstword $(call _extract_cmd,$(1),$(2))),$(1)':' $(notdir $(2)),$(wordlist 2,1000,$(call _extract_cmd,$(1),$(2))) && $(TOUCH) $(BUILD_DIR)/$(1)/.origin)
UK_FETCH-y += $(BUILD_DIR)/$(1)/.origin
$(call vprefix_lib,$(1),ORIGIN) = $(BUILD_DIR)/$(1)/origin
$(shell $(MKDIR) -p $(BUILD_DIR)/$(1)/origin)
.PRECIOUS: $(BUILD_DIR)/$(1)/origin
$(BUILD_DIR)/$(1)/origin/%: $(BUILD_DIR)/$(1)/.origin
	@:
endef

# patch $1:libname,$2:patchdir,$3:subdir of origin -- applies every file of
# patchdir, in sorted order, with `patch -p1`, then touches .patched.
define patch
$(BUILD_DIR)/$(1)/.patched: $(BUILD_DIR)/$(1)/.origin
	@$(foreach p,$(sort $(wildcard $(2)/*)),$(call verbose_cmd_inner,PATCH,$(1)':' $(notdir $(p)),$(PATCH) -sd $(BUILD_DIR)/$(1)/origin/$(3)/ -p1 < $(p)) && )$(TOUCH) $(BUILD_DIR)/$(1)/.patched
UK_FETCH-y += $(BUILD_DIR)/$(1)/.patched
endef

# ------------------------------------------------------------ downloads
# fetchas $1:libname,$2:url,$3:file name -- downloads to $(BUILD_DIR)/<lib>/<file>.
# A failed wget removes the file and does not fail this step (as in Unikraft):
# the checksum or the extraction fails next.
define fetchas
$(BUILD_DIR)/$(1)/$(3):
	$(call verbose_cmd,WGET,$(1)':' $(2),$(WGET) -q --show-progress --progress=bar -O $(BUILD_DIR)/$(1)/$(3) $(2) || $(RM) $(BUILD_DIR)/$(1)/$(3))
$(call _chksum_origin,$(1),$(BUILD_DIR)/$(1)/$(3),$(BUILD_DIR)/$(1)/.chksum)
$(call unarchive,$(1),$(BUILD_DIR)/$(1)/$(3),$(BUILD_DIR)/$(1)/.chksum)
UK_FETCH-y += $(BUILD_DIR)/$(1)/.chksum
endef

# fetchas2 $1:libname,$2:url,$3:fallback url,$4:file name
define fetchas2
$(BUILD_DIR)/$(1)/$(4):
	$(call verbose_cmd,WGET,$(1)':' $(2) [retry-with: $(3)],$(WGET) -q --show-progress --progress=bar -O $(BUILD_DIR)/$(1)/$(4) $(2) || $(WGET) -q --show-progress --progress=bar -O $(BUILD_DIR)/$(1)/$(4) $(3) || $(RM) $(BUILD_DIR)/$(1)/$(4))
$(call _chksum_origin,$(1),$(BUILD_DIR)/$(1)/$(4),$(BUILD_DIR)/$(1)/.chksum)
$(call unarchive,$(1),$(BUILD_DIR)/$(1)/$(4),$(BUILD_DIR)/$(1)/.chksum)
UK_FETCH-y += $(BUILD_DIR)/$(1)/.chksum
endef

# fetch $1:libname,$2:url / fetch2 $1:libname,$2:url,$3:fallback: file name = URL basename.
fetch = $(call fetchas,$(1),$(2),$(notdir $(2)))
fetch2 = $(call fetchas2,$(1),$(2),$(3),$(notdir $(2)))

# clone $1:libname,$2:git url,$3:branch or tag -- a shallow clone into origin/
# (stamp .origin); sets LIB<NAME>_ORIGIN. A commit cannot be named.
define clone
$(BUILD_DIR)/$(1)/.origin:
	$(call verbose_cmd,GIT,$(1),$(RM) -r $(BUILD_DIR)/$(1)/origin && $(GIT) clone --recurse-submodules -q --progress --depth 1 --branch $(3) --no-tags $(2) $(BUILD_DIR)/$(1)/origin/ && $(TOUCH) $(BUILD_DIR)/$(1)/.origin)
UK_FETCH-y += $(BUILD_DIR)/$(1)/.origin
$(call vprefix_lib,$(1),ORIGIN) = $(BUILD_DIR)/$(1)/origin
.PRECIOUS: $(BUILD_DIR)/$(1)/origin
$(BUILD_DIR)/$(1)/origin/%: $(BUILD_DIR)/$(1)/.origin
	@:
endef

# ------------------------------------------------------------ import
# import_lib $1:library directory -- includes its Makefile.uk, if it has one,
# with IMPORT_BASE set to the directory (what addlib records as <LIB>_BASE).
define import_lib
IMPORT_BASE := $(1)
include $(1)/Makefile.uk
undefine IMPORT_BASE
endef
