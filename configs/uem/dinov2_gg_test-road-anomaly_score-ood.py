# Table 2 ablation: the G-G model scored by the UEM alone instead of the full LLR, as the
# public code scores it: O1 (score='OoD', O1 - O0, ranks the same for a GMM UEM).
_base_ = './dinov2_gg_test-road-anomaly.py'
model = dict(test_cfg=dict(score='O1'))
