"""The learner: MOTO's world model, imagination, value expansion and actor-critic (one module per concept).

- ``world_model.py``  RSSM + decoder + reward/continuation heads, the ELBO with a random prior member per step
- ``imagination.py``  H-step rollouts with the actor, the uncertainty penalty u and r_hat = r - alpha u
- ``returns.py``      V_K, the lambda-return V and V_hat (pure tensor functions)
- ``actor_critic.py`` twin critics with Polyak targets, L_model + L_data, L_pi_model + beta L_pi_reg
- ``learner.py``      ``Learner``: one gradient step (model, critic, actor), policy weights, checkpoints
- ``diagnostics.py``  TensorBoard scalars, open-loop video, reward plot, epsilon_u
- ``pretrain.py``     ``moto pretrain``; ``bench.py`` ``moto bench learner``
"""
