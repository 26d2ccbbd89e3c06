"""The public probe library: what a worker can be asked to do with the student's code.

``wire`` is the data format between the grading session and a worker, ``server`` answers
probe requests, ``doubles`` holds the test doubles that run next to the student's code. On
the grader this package is copied, alone, next to the worker's entry point (it is imported
there as ``probes``); locally, ``pytest tests/`` uses it in-process. It implements no graded
function and judges nothing.
"""
