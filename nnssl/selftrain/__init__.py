"""Self-training on the target's unlabelled images (``nnssl_selftrain``; ``documentation/selftraining.md``).

A finished teacher (any nnU-Net model folder and fold) labels the unlabelled images; a derived nnU-Net dataset holds
the fold's labelled cases, the pseudo-labelled ones (unsure voxels set to nnU-Net's ``ignore`` label) and the
fold's validation cases (validation only); a student trains on it with stock ``nnUNetv2_train``.

- ``pseudo.py``: the pseudo-label maths (pure numpy);
- ``derived.py``: the derived dataset (raw, plans, split, preprocessing), written beside and committed last;
- ``run.py``: the typed request and the rounds (teacher prediction, dataset, student training).
"""
