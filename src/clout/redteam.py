"""The red team: an attacker who has read the defences searches the doc-aware attack's
parameters (`data.attacks.Tactic`: aged or lent accounts, how many, what share of the posts,
how late, how much camouflage, following or not, and whom to aim at) for the largest mean gain
per target within a budget of actions per target, with Optuna, against a trained model.

Each trial injects its attack into the world the model was trained on (after training, as an
attacker would) and scores the targets there, as `clout.gaming` does: a trial over budget is
pruned before it is scored. The targets are the gaming table's (genuine low-score accounts) or
genuine accounts that posted once or twice in the window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import optuna
import pandas as pd

from clout.data.attacks import Tactic, inject
from clout.data.dataset import Dataset
from clout.errors import ConfigError
from clout.gaming import (
    FEW_POSTED,
    LOW_SCORE,
    choose_accounts,
    few_posts_accounts,
    score_dataset,
)
from clout.scoring.score import InfluenceModel

Say = Callable[[str], None]
#: What the red team varies, and over what range
ENGAGERS = (1, 60)
SHARE = (0.05, 0.89)  # under the coverage rule's 90 %
HOURS = (0.5, 48.0)
CAMOUFLAGE_PER_DAY = (0.0, 6.0)


@dataclass
class RedTeamResult:
    trials: pd.DataFrame  # one row per trial: parameters, actions per target, gain, max, state
    best: dict  # the best trial's parameters, actions per target, mean and max gain
    budget: float  # actions per target


def suggest(trial: optuna.Trial) -> tuple[str, Tactic]:
    """One point of the search: whom to aim at, and the tactic."""
    aim = trial.suggest_categorical("aimed_at", [LOW_SCORE, FEW_POSTED])
    return aim, Tactic(
        accounts=trial.suggest_categorical("accounts", ["aged", "lent"]),
        engagers=trial.suggest_int("engagers", *ENGAGERS, log=True),
        share=trial.suggest_float("share", *SHARE),
        hours=trial.suggest_float("hours", *HOURS, log=True),
        camouflage_per_day=trial.suggest_float("camouflage_per_day", *CAMOUFLAGE_PER_DAY),
        follow=trial.suggest_categorical("follow", [False, True]))


def red_team(model: InfluenceModel, dataset: Dataset, genuine: np.ndarray, end, budget: float,
             trials: int = 30, days: int = 28, seed: int = 0, say: Say = print
             ) -> RedTeamResult:
    """Search `trials` tactics for the largest mean gain per target at most `budget` actions
    per target (`genuine`: the ids whose gains count)."""
    if budget <= 0 or trials < 1:
        raise ConfigError(f"the red team needs a positive budget and trials, got budget "
                          f"{budget} and {trials} trials")
    end = pd.Timestamp(end)
    clean = score_dataset(model, dataset, end)
    aimed = {LOW_SCORE: choose_accounts(clean.reset_index(), genuine, seed=seed)[0],
             FEW_POSTED: few_posts_accounts(dataset, genuine, end, days, seed=seed)}

    def gain(trial: optuna.Trial) -> float:
        aim, tactic = suggest(trial)
        injection = inject(dataset, tactic, aimed[aim], tactic.engagers, end, days, seed)
        per_target = injection.actions / len(injection.targets)
        trial.set_user_attr("actions_per_target", per_target)
        if per_target > budget:
            raise optuna.TrialPruned(f"{per_target:,.0f} actions per target")
        gains = (score_dataset(model, injection.attacked, end)
                 - clean).loc[injection.targets]
        trial.set_user_attr("max_gain", float(gains.max()))
        say(f"trial {trial.number}: {tactic.engagers} {tactic.accounts} accounts, share "
            f"{tactic.share:.2f}, on {aim}: {gains.mean():+.2f} points "
            f"({per_target:,.0f} actions per target)")
        return float(gains.mean())

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(gain, n_trials=trials)
    table = study.trials_dataframe(attrs=("number", "value", "params", "user_attrs", "state"))
    table = table.rename(columns=lambda c: c.removeprefix("params_").removeprefix("user_attrs_"))
    table = table.rename(columns={"value": "mean_gain"})
    scored = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not scored:
        raise ConfigError(f"no trial fitted a budget of {budget:,.0f} actions per target: "
                          "raise --budget")
    best = study.best_trial
    return RedTeamResult(table, {**best.params, **best.user_attrs, "mean_gain": best.value},
                         budget)


def log_red_team(result: RedTeamResult, experiment_name: str, mlflow_experiment: str,
                 model_version: str, uri: str | None = None) -> str:
    """One run: the budget, the best tactic as parameters, its gains as metrics, every trial
    as a table."""
    import mlflow

    from clout import tracking

    tags = {tracking.KIND_TAG: "redteam", "git_commit": tracking.git_commit(),
            **tracking.machine_tags()}
    with tracking.run(mlflow_experiment, f"redteam {experiment_name}", uri, tags) as active:
        best = result.best
        mlflow.log_params({"budget": result.budget, "trials": len(result.trials),
                           "model_version": model_version,
                           **{f"best.{k}": v for k, v in best.items()
                              if k not in ("mean_gain", "max_gain", "actions_per_target")}})
        mlflow.log_metrics({"best_mean_gain": best["mean_gain"],
                            "best_max_gain": best["max_gain"],
                            "best_actions_per_target": best["actions_per_target"]})
        mlflow.log_table(result.trials.astype({"state": str}), "trials.json")
        return active.info.run_id
