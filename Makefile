# Two commands on a fresh clone: `make demo` and `make test`. Each creates .venv when missing and
# installs the pinned, known-good dependency set (constraints.txt) into it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check bench clean-var clean letter-libs

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), sys.version' || { echo "need Python 3.11+ (make PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

demo: $(STAMP) letter-libs
	$(BIN)/notifier demo

# Letters are laid out by WeasyPrint, which needs Pango (and HarfBuzz's subsetter) from Debian, and set in
# Debian's DejaVu fonts (Latin, Cyrillic, Vietnamese; licence in /usr/share/doc/fonts-dejavu-core).
LETTER_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
letter-libs:
	@test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf && ldconfig -p | grep -q libpangoft2-1.0 && \
		ldconfig -p | grep -q libharfbuzz-subset || { echo "installing Pango and DejaVu for the letters"; \
		export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq $(LETTER_PACKAGES) >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq $(LETTER_PACKAGES) >/dev/null; }; }

# The code's form first (seconds): lint, format, types, import directions (docs/architecture.md); then pytest.
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The mailbox tests run a real IMAP server: Dovecot from Debian (its system daemon is not started); the
# console's tests a real browser: Debian's Chromium, driven by Playwright.
test: check letter-libs
	@test -x /usr/bin/pdftotext || { echo "installing poppler-utils: the letter tests read the PDFs back"; \
		export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq poppler-utils >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq poppler-utils >/dev/null; }; }
	@test -x /usr/sbin/dovecot || { echo "installing dovecot-imapd for the mailbox tests"; \
		export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq dovecot-imapd >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq dovecot-imapd >/dev/null; }; }
	@test -x /usr/bin/chromium || { echo "installing chromium for the console's browser tests"; \
		export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq chromium >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; }
	$(BIN)/python -m pytest

# Benchmarks need Postfix's smtp-sink/smtp-source (Debian package postfix; its daemon is not started).
bench: $(STAMP)
	@test -x /usr/sbin/smtp-sink || { echo "installing postfix for smtp-sink (daemon not started)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null; }
	$(BIN)/python -m bench.run

clean-var:
	rm -rf var

clean: clean-var
	rm -rf $(VENV)
