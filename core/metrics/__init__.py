"""The numbers a tested run is judged by: per-image results, the confusion matrix and per-class scores, the Wald
interval the report used (`evaluation`), and whether two runs really differ (`stats`: McNemar on one test set,
Welch over seeds).

Pure functions of arrays. May import: core.formatting (for the sentences a test result is read in).
"""
