# Table 2 ablation: the G-G model scored by OoD alone instead of the full LLR.
_base_ = './dinov2_gg_test-road-anomaly.py'
model = dict(test_cfg=dict(score='OoD'))
