# Sluice build.  `make` builds bin/sluice; `make test` runs every test with a
# throwaway PostgreSQL; `make run` starts the demo.  SANITIZE=1 builds with
# AddressSanitizer + UndefinedBehaviorSanitizer (into build-san/, bin-san/).

CC      ?= cc
PKGS    := libgit2 libmicrohttpd libpq libcurl jansson yaml-0.1 libcrypto
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wvla -Wwrite-strings -Wformat=2 -fno-common -Werror
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE $(WARN) -pthread -MMD -MP \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread -lm

ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
B       := build-san
BIN     := bin-san
else
B       := build
BIN     := bin
endif

SRC      := $(wildcard controller/*.c controller/*/*.c)
OBJ      := $(SRC:%.c=$(B)/%.o)
LIBOBJ   := $(filter-out $(B)/controller/main.o,$(OBJ))
FAKESRC  := $(wildcard tests/fakes/*.c)
FAKESRC  += $(wildcard tests/support/*.c)
FAKEOBJ  := $(FAKESRC:%.c=$(B)/%.o)
UNITSRC  := $(wildcard tests/unit/test_*.c)
UNITBIN  := $(UNITSRC:tests/unit/%.c=$(B)/tests/unit/%)
INTSRC   := $(wildcard tests/integration/test_*.c)
INTBIN   := $(INTSRC:tests/integration/%.c=$(B)/tests/integration/%)
BENCHSRC := $(wildcard bench/*.c)
BENCHBIN := $(BENCHSRC:bench/%.c=$(B)/bench/%)
TESTLIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

.PHONY: all tests test unit run bench fuzz clean lint deps valgrind
all: $(BIN)/sluice

$(BIN)/sluice: $(OBJ)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -iquote controller -iquote tests/support -iquote tests/fakes -c -o $@ $<

$(B)/tests/unit/%: $(B)/tests/unit/%.o $(LIBOBJ) $(FAKEOBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TESTLIBS) $(LDLIBS)

$(B)/tests/integration/%: $(B)/tests/integration/%.o $(LIBOBJ) $(FAKEOBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(TESTLIBS) $(LDLIBS)

$(B)/bench/%: $(B)/bench/%.o $(LIBOBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Everything the test scripts need, built without running anything.
tests: $(BIN)/sluice $(UNITBIN) $(INTBIN)

deps:
	@scripts/bootstrap.sh

# The README's two commands.
test:
	@T='$(T)' scripts/test.sh

run:
	@scripts/run.sh

# Unit tests only (offline, no database), used by CI under SANITIZE=1.
unit: $(UNITBIN)
	@scripts/run-tests.sh $(UNITBIN)

# Unit tests under valgrind (definite leaks and memory errors fail).
valgrind: $(UNITBIN)
	@for t in $(UNITBIN); do \
	    valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
	        --error-exitcode=9 $$t >/dev/null || { echo "valgrind: $$t"; \
	        exit 1; }; done; echo "valgrind: $(words $(UNITBIN)) unit test programs clean"

bench: $(BIN)/sluice $(BENCHBIN)
	@scripts/bench.sh

# Every libFuzzer target (tests/fuzz/) for FUZZ_SECONDS each;
# FUZZ_TARGETS=name,name chooses some.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?=
fuzz:
	@FUZZ_TARGETS='$(FUZZ_TARGETS)' scripts/fuzz.sh $(FUZZ_SECONDS)

lint:
	@scripts/lint-layers.sh
	@scripts/lint-api.sh
	@! grep -nE '\b(sprintf|strcpy|strcat|strtok|atoi|sscanf)\s*\(' \
	    controller/*.c controller/*/*.c || { echo "lint: banned function above"; exit 1; }
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	    --inline-suppr -Icontroller controller

clean:
	rm -rf build build-san bin bin-san build-fuzz

-include $(OBJ:.o=.d) $(FAKEOBJ:.o=.d) $(UNITBIN:=.d) $(INTBIN:=.d) \
	$(BENCHBIN:=.d)
.SECONDARY:
