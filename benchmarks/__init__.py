"""Benchmarks: scripts that print speed, memory and accuracy figures (never timed tests).

Run them as modules from the repository root, e.g. ``python -m benchmarks.bench_engine``;
``python -m benchmarks.run_all --write docs/benchmarks.md`` runs them all and records their
output. ``benchmarks/README.md`` says what each one measures.
"""
