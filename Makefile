# The two commands: `make demo` and `make test`. Both create .venv and install the project when needed.
PYTHON ?= python3
# the accounting sandbox `make demo` connects: make demo ACCOUNTING=quickbooks
ACCOUNTING ?= xero
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test install bench clean i18n-update

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing invoicebridge and its dependencies into $(VENV) (once; about a minute)…"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,sandbox]' >$(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	@$(BIN)/python -m invoicebridge.core.i18n_compile
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@$(BIN)/invoicebridge demo --accounting $(ACCOUNTING)

test: $(STAMP)
	@bash .ci/install-chromium
	@$(BIN)/python -m pytest -q -p no:cacheprovider

# Extract every wrapped text (babel.cfg) into core/locale/invoicebridge.pot and merge it into each language's .po;
# then translate the new entries (and clear their fuzzy flags) and run the tests, which fail on any left over.
i18n-update: $(STAMP)
	@$(BIN)/pybabel --quiet extract -F babel.cfg -k lazy_ -k lazy_gettext --add-location=file --sort-by-file \
		--project=invoicebridge --copyright-holder="invoicebridge" --msgid-bugs-address="" \
		-o core/locale/invoicebridge.pot .
	@$(BIN)/pybabel --quiet update -i core/locale/invoicebridge.pot -d core/locale -D invoicebridge --ignore-obsolete --ignore-pot-creation-date
	@$(BIN)/python -m invoicebridge.core.i18n_compile

bench: $(STAMP)
	@for s in bench/[!_]*.py; do echo "== $$s"; $(BIN)/python $$s || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
