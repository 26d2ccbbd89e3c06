# PS1 — Autoregressive Models. `make grade` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUBMISSION ?= submission
RESULTS ?= results.json
# 3 test processes on 2 cores: the hostile self-tests spend minutes waiting on wall-clock limits
JOBS ?= 3

.PHONY: help venv grade test test-quick test-identity check selftest skeleton fixtures manifest autograder handout bench clean

help:
	@echo "make grade      grade ./submission (SUBMISSION=path or .zip) exactly as Gradescope will"
	@echo "make test       all self-tests: solution 40/40, skeleton 0, corpora, sandbox, zips, sync checks"
	@echo "make test-quick the self-tests that grade nothing (a minute or two), for iterating"
	@echo "make test-identity every corpus upload graded both by the warm service and by its own grade"
	@echo "                process, results.json compared (about 30 minutes; after changing the service)"
	@echo "make check      the public tests on ./submission (what students run)"
	@echo "make skeleton   regenerate submission/ from autograder/solution/"
	@echo "make fixtures   regenerate the reference fixtures from the solution"
	@echo "make manifest   rewrite the list of tests and points after editing a test's @weight"
	@echo "make autograder dist/autograder.zip (upload to Gradescope)"
	@echo "make handout    dist/handout.zip (give to students)"
	@echo "make bench      grading time and memory with the CPU-only torch Gradescope gets (BENCH_TORCH=installed: .venv's),"
	@echo "                then regrade throughput one by one against the warm service"

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

venv: $(VENV)/.installed

grade: venv
	$(PY) -m autograder grade $(SUBMISSION) --results $(RESULTS)

test: venv
	$(PY) -m autograder manifest
	$(PY) -m pytest autograder/selftests -n $(JOBS) -p no:cacheprovider -o timeout=900 --durations=15 -rfEs

# make test compares a sample of each corpus; this compares every upload of every corpus.
test-identity: venv
	$(PY) -m autograder manifest
	PS1_IDENTITY=all $(PY) -m pytest autograder/selftests/test_service.py -n 2 -p no:cacheprovider -o timeout=900 -rfE

check: venv
	$(PY) -m pytest tests -p no:cacheprovider

skeleton: venv
	$(PY) -m autograder skeleton

fixtures: venv
	$(PY) -m autograder fixtures

# The self-tests that grade nothing (a minute or two): the sync checks, the contract table, the
# staging, cleanup, parity-model, huge-page and gradient-probe unit tests, the no-answers scan, the solution's own API.
QUICK = sync contract staging cleanup parity_models no_answers solution_api hugepages probes

test-quick: venv
	$(PY) -m pytest $(foreach t,$(QUICK),autograder/selftests/test_$(t).py) -n $(JOBS) -p no:cacheprovider -rs

manifest: venv
	$(PY) -m autograder manifest

autograder: manifest
	$(PY) -m autograder build autograder

handout: venv
	$(PY) -m autograder build handout

# The budgets (SPEC §6) are Gradescope's, which runs a CPU-only torch: by default the benchmark
# uses one, with the grader's own requirements, in $(VENV)-cpu (here `pip install torch==2.13.0`
# resolves to a local CPU-only wheel; no CPU wheel of the pinned 2.14.1 is reachable).
# BENCH_TORCH=installed benchmarks .venv's torch (the CUDA build: ~400 MB more per grading).
BENCH_TORCH ?= cpu
# Then regrade throughput on a fake export of this many uploads (solution, skeleton, buggy in
# turn), one by one and warm (one grading server per job), --jobs 2.
BENCH_REGRADE ?= 12
CPU_TORCH ?= torch==2.13.0
$(VENV)-cpu/.installed: requirements-grader.txt
	test -x $(VENV)-cpu/bin/python || $(PYTHON) -m venv $(VENV)-cpu
	$(VENV)-cpu/bin/python -m pip install --quiet --disable-pip-version-check "$(CPU_TORCH)" -r requirements-grader.txt
	touch $@

ifeq ($(BENCH_TORCH),cpu)
bench: venv $(VENV)-cpu/.installed
	$(PY) -m autograder.bench --python $(VENV)-cpu/bin/python
	$(PY) -m autograder.bench --python $(VENV)-cpu/bin/python --regrade $(BENCH_REGRADE)
else
bench: venv
	$(PY) -m autograder.bench
	$(PY) -m autograder.bench --regrade $(BENCH_REGRADE)
endif

clean:
	rm -rf dist runs results.json .pytest_cache
