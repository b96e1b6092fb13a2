"""Notebook widgets: thin views over the core (Annotator, Trainer, PredictionViewer, App)."""
