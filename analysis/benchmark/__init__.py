"""Benchmark image-quality metrics against a study's MOS (issue 18).

``inputs`` reads a run's ``mos.csv`` and a predictions CSV, ``compute`` lays out the figures of
:mod:`analysis.stats.metric_benchmark`, ``outputs`` writes the files, ``offline`` ties them for
``manage.py benchmark_metrics``; none of these import Django. ``models``, ``services``,
``tasks``, ``views`` and ``api`` are the app's side: a benchmark of a finished analysis run.
"""
