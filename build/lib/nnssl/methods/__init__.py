"""Pretraining methods, one package each (config, model, trainer, flags); ``method.py`` says what a method is."""
