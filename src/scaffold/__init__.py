"""Generators for what the template asks its users to write: a task command in any of the
three languages, a pipeline (a DAG) chaining task commands, and a provider feed for s3_ingest.

``python -m scaffold --help`` (or the Makefile's ``new-*`` targets). Every generator renders
files from ``templates/`` (Jinja, strict: an unknown name is an error), edits the one or two
registries that list what it adds, refuses to overwrite anything, and prints what it wrote
and what to run next. A bad name or flag is refused before any file is touched.
"""
