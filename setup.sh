#!/usr/bin/env bash
# Gradescope image set-up: Ubuntu 22.04, runs as root, system python3.10.
# Installs a CPU-only torch (the default PyPI wheel pulls ~3 GB of CUDA libraries and needs
# ~700 MB of memory just to import, over Gradescope's default 768 MB container) and locks the
# grader's files away from student code (which runs as a uid drawn fresh for each grading, not
# as an account: see autograder/harness/sandbox.py).
set -euxo pipefail
SOURCE=/autograder/source
cd "$SOURCE"

apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv python3-pip

python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --no-cache-dir --upgrade pip
/autograder/venv/bin/pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu "torch==2.14.1"
/autograder/venv/bin/pip install --no-cache-dir -r requirements-grader.txt

# Hidden tests, fixtures and the harness: root only. The venv stays readable (student code
# imports torch from it); the results folder stays root-writable only.
chown -R root:root "$SOURCE"
chmod -R go-rwx "$SOURCE"
chmod -R go-w /autograder/venv
mkdir -p /autograder/results && chmod 755 /autograder/results

# Compile once now so grading never writes __pycache__ into the source tree.
/autograder/venv/bin/python -m compileall -q "$SOURCE/autograder" "$SOURCE/tests" >/dev/null
/autograder/venv/bin/python -c "import torch; assert torch.version.cuda is None, 'not the CPU-only torch'; print('torch', torch.__version__)"
