"""The machine underneath: files written atomically, locks, whether a process lives, values cached per file, work run
a step at a time to its end, and the supervisor that starts and serves every helper process (training workers, the
Ray dispatcher, the explainer).

Owns no domain knowledge (runs, jobs, classes are above it). May import: the standard library, numpy and pandas
only; nothing else of `core`.
"""
