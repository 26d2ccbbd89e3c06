"""Test-side helpers shared by the public and the hidden suites; they run where the verdicts
are computed and never touch a student object.

``client`` asks the test's worker to run the student's code (the ``worker`` fixture);
``checks`` compares the data it sends back and writes the messages; ``pictures`` draws masks
and receptive fields as text; ``autoregressive`` and ``devices`` are the shared model checks;
``fixtures`` loads recorded reference values; ``tables`` builds inputs for the test doubles.
"""
