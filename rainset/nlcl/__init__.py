"""NLCL reference trainer: unsupervised non-local contrastive deraining."""
