"""nnU-Net trainer subclasses: one SSL base, one short class per method, fine-tune trainers."""
