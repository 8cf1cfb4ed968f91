-- The headline numbers, in the shape of the study's abstract: one row per finding with its interval and n,
-- computed here from the result tables (findings.json is computed separately in Python; the tests compare them).
with population as (
    select
        count(*) filter (where registered) as agents,
        count(*) filter (where active) as active_agents
    from agent_activity
),

roles as (
    select k, silhouette, silhouette_sd, sizes from role_k_selection where chosen
),

periphery as (
    select count(*) filter (where role = 'periphery') / count(*) as share, count(*) as n
    from agent_roles where active
),

powerlaw as (
    select * from cascade_powerlaw
),

hazard as (
    select * from adoption_cox where model = 'linear' and term = 'exposures'
),

tasks as (
    select count(*) as n_events, avg(cast(resolved as double)) filter (where team <> 'none') as success_rate,
           count(*) filter (where team <> 'none') as n_with_team
    from task_events
),

outcomes as (
    select
        max(estimate) filter (where quantity = 'mcnemar_p_value') as p_value,
        max(estimate) filter (where quantity = 'cohens_d') as cohens_d,
        max(ci_lower) filter (where quantity = 'cohens_d') as cohens_d_lower,
        max(ci_upper) filter (where quantity = 'cohens_d') as cohens_d_upper,
        max(estimate) filter (where quantity = 'n_matched') as n_matched
    from cooperation_outcomes
),

final as (
    select 1 as position, 'population.agents' as key, 'Registered agents' as finding,
           cast(agents as double) as value, null::double as ci_lower, null::double as ci_upper,
           agents as n, '~770,000' as study from population
    union all select 2, 'population.active_agents', 'Active agents (wrote at least one post or comment)',
           active_agents, null, null, agents, '~90,000' from population
    union all select 2.1, 'population.posts', 'Posts', (select count(*) from posts), null, null,
           (select count(*) from posts), '~1M'
    union all select 2.2, 'population.comments', 'Comments', (select count(*) from comments), null, null,
           (select count(*) from comments), '~10M'
    union all select 3, 'roles.k', 'Structural roles (k chosen by silhouette among stable, non-degenerate k)',
           k, null, null, (select n from periphery), 'six roles' from roles
    union all select 4, 'roles.silhouette', 'Silhouette of the chosen clustering (95% band over samples)',
           silhouette, silhouette - 1.96 * silhouette_sd, silhouette + 1.96 * silhouette_sd,
           (select n from periphery), '0.91' from roles
    union all select 5, 'roles.periphery_share', 'Share of active agents in the peripheral cluster',
           share, null, null, n, '93.5%' from periphery
    union all select 6, 'cascades.n', 'Cascades (independent propagation trees)',
           (select count(*) from cascades), null, null, (select count(*) from cascades), '10,323 events'
    union all select 7, 'cascades.alpha', 'Power-law exponent of cascade sizes (bootstrap 95% CI)',
           alpha, alpha_ci_lower, alpha_ci_upper, n_tail, '2.57 +/- 0.02' from powerlaw
    union all select 8, 'cascades.alpha_se', 'Standard error of the exponent',
           alpha_se, null, null, n_tail, '0.02' from powerlaw
    union all select 9, 'cascades.xmin', 'Lower cutoff of the power-law tail (KS-chosen)',
           xmin, null, null, n, 'not reported' from powerlaw
    union all select 10, 'cascades.ks_p_value', 'Goodness-of-fit p-value (Clauset et al. bootstrap)',
           ks_p_value, ks_p_value_ci_lower, ks_p_value_ci_upper, n_bootstrap, 'not reported' from powerlaw
    union all select 11, 'adoption.hazard_ratio', 'Hazard ratio per additional exposure (Cox, 95% CI)',
           hazard_ratio, ci_lower, ci_upper, events, '0.53' from hazard
    union all select 12, 'adoption.concordance', 'Concordance of the Cox model',
           concordance, null, null, subjects, '0.78' from hazard
    union all select 13, 'collab.n_events', 'Task events (multi-agent, single-agent or unanswered)',
           n_events, null, null, n_events, '164 events' from tasks
    union all select 14, 'collab.success_rate', 'Success rate of answered tasks',
           success_rate, null, null, n_with_team, '6.7%' from tasks
    union all select 15, 'collab.p_value', 'Matched difference in success, exact McNemar p',
           p_value, null, null, cast(n_matched as bigint), '0.057' from outcomes
    union all select 16, 'collab.cohens_d', 'Cohen''s d, multi- vs matched single-agent quality (bootstrap 95% CI)',
           cohens_d, cohens_d_lower, cohens_d_upper, cast(n_matched as bigint), '-0.88' from outcomes
)

select * from final order by position
