{{ periods_aggregated('segment', var('segments')) }}
