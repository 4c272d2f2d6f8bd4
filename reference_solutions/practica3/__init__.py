"""Práctica 3's reference solutions: the given MNIST CNN, SVM on HOG features, the improved CNN and the
denoising autoencoder, with ``train.py`` (measures ``metrics.json``) and ``specs.py`` (the
architecture specs of the public checks)."""
