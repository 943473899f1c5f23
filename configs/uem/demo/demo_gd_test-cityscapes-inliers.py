# Demo: false alarms on normal frames. The miniature Cityscapes val split as a set without
# anomalies (trainIds 0-18 -> 0 inlier, 255 void), scored with FA-img / FA-px at the
# threshold given by --threshold (the demo's evaluation section gives each score's TPR-95%
# operating point on the miniature RoadAnomaly set, as configs/uem/*_test-cityscapes-inliers.py
# take a benchmark's):
#   python tools/test.py configs/uem/demo/demo_gd_test-cityscapes-inliers.py CKPT \
#       --threshold work_dirs/demo/eval_LLR/operating_point.json
_base_ = ['./demo_gd.py', '../../_base_/datasets/demo_cityscapes_val.py']
test_dataloader = {{_base_.demo_cityscapes_inliers_dataloader}}
test_pipeline = {{_base_.demo_cityscapes_inliers_pipeline}}
tta_pipeline = {{_base_.demo_cityscapes_inliers_tta_pipeline}}
test_evaluator = dict(_delete_=True, type='OoDMetric', ood_metrics=['FA-img'])
