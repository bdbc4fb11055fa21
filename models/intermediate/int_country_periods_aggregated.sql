{{ periods_aggregated('country', var('countries')) }}
