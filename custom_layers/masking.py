"""The scores of what a mask leaves out, defined once for every layer and recipe."""

#: a logit or score that no real one comes near: masked attention scores, padding in a
#: max over steps, a tag that is never chosen (softmax gives it 0, argmax and max skip it)
MASKED = -1e9
#: the score of a transition the CRF forbids: far below any real path's, yet small
#: enough that the forward algorithm's log-sum-exp over it stays exact in float32
FORBIDDEN = -1e4
