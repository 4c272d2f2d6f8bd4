"""Práctica 2's reference solutions (activation functions, weight initializers and MLPs with Keras):
NumPy activations and their derivatives, a custom named activation, the initializers' table, the
moons classifier with and without non-linearity, the Fashion-MNIST MLP, a deep MNIST MLP with a
learning-rate search and the diabetes regression MLP; ``train.py`` measures ``metrics.json``."""
