"""Pretraining models (network + heads -> loss terms), one module per method; trainers wrap them."""
