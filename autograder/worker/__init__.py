"""What runs in the worker processes: the zygote that forks them and their confinement.

Copied, with the public probe library ``tests/probes`` (as ``probes``), into a runtime folder
that is the only project code a worker's interpreter can import. Nothing here judges a test.
"""
