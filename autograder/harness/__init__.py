"""The trusted side of grading: no student code ever runs in these processes.

* ``staging``  finds the six graded files in an upload (folders, defensive zip reading) and
               copies only them;
* ``session``  the grading session: runs every test body, asks the zygote
               (:mod:`autograder.worker`) for one fresh sandboxed worker per test and judges
               the plain data the worker sends back;
* ``sandbox``  the uid a grading's workers run as, and clean-up of stray processes;
* ``cleanup``  removes folders student code shaped, without recursion or following links;
* ``results``  turns outcomes and the session's manifest into Gradescope's results.json,
               with student text neutralised; ``tests_manifest.json`` is the fallback list of
               tests for the last-resort results.json;
* ``grade``    ties them together for ``python -m autograder grade``.
"""
