# make notebooks: close the demo month, then execute notebooks/month_review.ipynb
# against it in a local virtual environment. Included by the top-level Makefile.
#
# The executed copy (with its outputs) goes to $(NOTEBOOK_RUN)/notebooks/ and
# the figures to $(NOTEBOOK_RUN)/figures/; notebooks/month_review.ipynb itself
# is not modified. The venv is made once and re-synced when
# notebooks/requirements.txt changes.

NOTEBOOK_VENV ?= .venv-notebooks
NOTEBOOK_PYTHON ?= python3
NOTEBOOK_RUN ?= $(if $(OUT),$(OUT),out/2026-10)

.PHONY: notebooks

$(NOTEBOOK_VENV)/.requirements-installed: notebooks/requirements.txt
	@test -x $(NOTEBOOK_VENV)/bin/python || $(NOTEBOOK_PYTHON) -m venv $(NOTEBOOK_VENV)
	$(NOTEBOOK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r notebooks/requirements.txt
	@touch $@

notebooks: demo $(NOTEBOOK_VENV)/.requirements-installed
	RECKON_OUT=$(abspath $(NOTEBOOK_RUN)) RECKON_CATALOG=$(abspath data/catalog) \
	  $(NOTEBOOK_VENV)/bin/jupyter nbconvert --to notebook --execute notebooks/month_review.ipynb \
	  --output-dir $(NOTEBOOK_RUN)/notebooks
	@echo "executed notebook: $(NOTEBOOK_RUN)/notebooks/month_review.ipynb; figures: $(NOTEBOOK_RUN)/figures/"
