# The two commands: `make demo` and `make test`. Both create .venv and install the project when needed.
PYTHON ?= python3
# the accounting sandbox `make demo` connects: make demo ACCOUNTING=quickbooks
ACCOUNTING ?= xero
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint install bench clean i18n-update

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

test: lint
	@bash .ci/install-chromium
	@$(BIN)/python -m pytest -q -p no:cacheprovider

# ruff over everything, then mypy over core, adapters, plugins and sandbox_kit ([tool.mypy] in pyproject.toml).
# The package is this directory (package-dir), so mypy finds `invoicebridge.*` through a link named after it.
lint: $(STAMP)
	@mkdir -p $(VENV)/mypy && ln -sfn ../.. $(VENV)/mypy/invoicebridge
	@$(BIN)/ruff check --quiet .
	@$(BIN)/mypy

# Extract every wrapped text into its domain's .pot and merge it into each language's .po: core's (babel.cfg) into
# core/locale/invoicebridge.pot, each plugin's (plugins/<name>/babel.cfg) into plugins/<name>/locale/invoicebridge_<name>.pot;
# then translate the new entries (and clear their fuzzy flags) and run the tests, which fail on any left over.
I18N_LANGUAGES := de
EXTRACT = $(BIN)/pybabel --quiet extract -k lazy_ -k lazy_gettext --add-location=file --sort-by-file \
		--copyright-holder="invoicebridge" --msgid-bugs-address=""
i18n-update: $(STAMP)
	@$(EXTRACT) -F babel.cfg --project=invoicebridge -o core/locale/invoicebridge.pot .
	@$(BIN)/pybabel --quiet update -i core/locale/invoicebridge.pot -d core/locale -D invoicebridge --ignore-obsolete --ignore-pot-creation-date
	@for cfg in plugins/*/babel.cfg; do \
		dir=$${cfg%/babel.cfg}; domain=invoicebridge_$${dir##*/}; mkdir -p $$dir/locale; \
		$(EXTRACT) -F $$cfg --project=$$domain -o $$dir/locale/$$domain.pot $$dir || exit 1; \
		for lang in $(I18N_LANGUAGES); do test -f $$dir/locale/$$lang/LC_MESSAGES/$$domain.po || \
			$(BIN)/pybabel --quiet init -i $$dir/locale/$$domain.pot -d $$dir/locale -D $$domain -l $$lang || exit 1; done; \
		$(BIN)/pybabel --quiet update -i $$dir/locale/$$domain.pot -d $$dir/locale -D $$domain --ignore-obsolete --ignore-pot-creation-date || exit 1; \
	done
	@$(BIN)/python -m invoicebridge.core.i18n_compile

# Every benchmark (bench/RESULTS.md has their figures). BENCH_LONG=1 adds the long ones: the curve at 100,000
# invoices and live status over 200 changes (plain `make bench` does 20). bench/profile_web.py is a tool, not a
# figure: run it by hand. The 'bench' and 'speed' extras are installed here only; `make test` stays lean.
BENCH_STAMP := $(VENV)/.bench-stamp
$(BENCH_STAMP): $(STAMP)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,sandbox,speed,bench]' >$(VENV)/install-bench.log 2>&1 || { cat $(VENV)/install-bench.log; exit 1; }
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	@bash .ci/install-chromium
	@bash .ci/install-wrk
	@for s in bench/[!_]*.py; do case $$s in bench/profile_web.py) continue;; esac; echo "== $$s"; \
		if [ "$$s" = bench/curve.py ] && [ -n "$(BENCH_LONG)" ]; then $(BIN)/python $$s --long || exit 1; \
		elif [ "$$s" = bench/live_status.py ] && [ -z "$(BENCH_LONG)" ]; then $(BIN)/python $$s --changes 20 || exit 1; \
		else $(BIN)/python $$s || exit 1; fi; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
