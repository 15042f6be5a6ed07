"""Audit stage: what drives the score, for reviewers.

- `importance`: gain, split, mean |SHAP| and permutation per head, and their stability across
  seeds; `explain`: one account's score in points per feature that add up; `fairness`: the score
  by follower band and account age against realised engagement and truth; `report`: one HTML
  file from what a run logged. It reads runs through `tracking` and trains nothing: the
  pipeline retrains the stability seeds' heads and hands them over.
"""
