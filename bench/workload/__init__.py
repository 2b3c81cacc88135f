"""The reference workload: neuroevolution of small PyTorch networks by a genetic algorithm."""
