from campaigns.charts import series_chart


def row(bucket: str, **values) -> dict:
    return {"bucket": bucket, **values}


SERIES = [
    row("2026-11-01T10:00:00+00:00", sent=10, delivered=8, opened=3),
    row("2026-11-01T13:00:00+00:00", sent=4, delivered=4, clicked=1),
]


def test_hours_without_events_are_drawn_as_zeros_between_real_buckets():
    chart = series_chart(SERIES, granularity="hour")
    real = [b for b in chart.buckets if not b["pad"]]
    assert [b["label"] for b in real] == [
        "Nov 01 10:00",
        "Nov 01 11:00",
        "Nov 01 12:00",
        "Nov 01 13:00",
    ]
    assert [b["sent"] for b in real] == [10, 0, 0, 4]
    # One empty bucket either side, so a single hour still draws a line.
    assert chart.buckets[0]["sent"] == chart.buckets[-1]["sent"] == 0
    assert all(line.points.count(",") == len(chart.buckets) for line in chart.lines)


def test_days_sum_their_hours():
    chart = series_chart(SERIES, granularity="day")
    [day] = [b for b in chart.buckets if not b["pad"]]
    assert (day["sent"], day["delivered"], day["opened"], day["clicked"]) == (14, 12, 3, 1)


def test_auto_picks_hours_for_a_short_campaign_and_days_for_a_long_one():
    assert series_chart(SERIES).granularity == "hour"
    long = [*SERIES, row("2026-11-20T09:00:00+00:00", sent=1)]
    assert series_chart(long).granularity == "day"
    months = [row("2026-11-01T00:00:00+00:00", sent=1), row("2027-01-15T00:00:00+00:00", sent=1)]
    chart = series_chart(months, granularity="hour")
    assert chart.granularity == "day" and chart.coarsened


def test_the_highest_value_stays_inside_the_plot():
    chart = series_chart(SERIES, granularity="hour")
    ys = [float(p.split(",")[1]) for line in chart.lines for p in line.points.split()]
    assert min(ys) >= chart.plot_top and max(ys) <= chart.plot_bottom
    assert int(chart.y_ticks[-1]["label"].replace(",", "")) >= 10


def test_no_series_is_an_empty_chart():
    assert series_chart([]).empty


def test_the_y_axis_uses_round_steps_just_above_the_peak():
    from campaigns.charts import y_scale

    assert y_scale(10) == (2, 5)
    assert y_scale(6) == (2, 4)
    assert y_scale(0) == (1, 4)
    step, intervals = y_scale(12_345)
    assert step * intervals >= 12_345 and step in (2_000, 5_000, 1_000, 10_000)
