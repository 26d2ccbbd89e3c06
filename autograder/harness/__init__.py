"""The grading harness: staging, sandboxed per-test child processes, results.json.

* ``staging``  finds the six graded files in an upload and copies only them;
* ``sandbox``  limits and de-privileges a child process before it runs student code;
* ``session``  collects the test suites once and forks one sandboxed child per test;
* ``results``  turns outcomes and the grader's own manifest into Gradescope's results.json;
* ``grade``    ties them together for ``python -m autograder grade``.
"""
