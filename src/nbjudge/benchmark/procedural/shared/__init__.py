"""Dimensions written the same way for every task: installation, MLflow logging,
cell organisation."""
