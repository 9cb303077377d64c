"""Risk service: credit-risk classes A–D, early-warning alerts, 问题企业工作台帐."""
