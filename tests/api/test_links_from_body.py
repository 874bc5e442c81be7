from campaigns.links import is_html, links_from_body


def test_html_bodies_track_the_href_of_anchor_tags_only():
    body = (
        '<p>See <a href="https://example.com/a?x=1&amp;y=2">this</a> and '
        "<a class=big href='http://example.com/b'>that</a>; not https://example.com/bare "
        '<img src="https://example.com/img.png"> <a href="mailto:hi@example.com">mail</a> '
        '<a href="#top">top</a> <a href="/relative">rel</a> <a name="x">no href</a></p>'
    )
    assert links_from_body(body) == ["https://example.com/a?x=1&y=2", "http://example.com/b"]


def test_plain_bodies_track_bare_urls_ending_at_whitespace_quotes_and_angle_brackets():
    body = (
        "Go to https://example.com/one now, or HTTP://Example.com/two\n"
        "'https://example.com/three' \"https://example.com/four\" "
        "https://example.com/five< and https://example.com/six>x https://example.com/seven."
    )
    assert links_from_body(body) == [
        "https://example.com/one",
        "HTTP://Example.com/two",
        "https://example.com/three",
        "https://example.com/four",
        "https://example.com/five",
        "https://example.com/six",
        # Only whitespace, quotes and angle brackets end a URL (CONTRACT.md).
        "https://example.com/seven.",
    ]


def test_a_link_appearing_twice_is_one_tracked_link_in_first_appearance_order():
    body = "b https://example.com/b a https://example.com/a again https://example.com/b"
    assert links_from_body(body) == ["https://example.com/b", "https://example.com/a"]


def test_a_body_without_links_has_none():
    assert links_from_body("Your code is 1234. ftp://example.com is not tracked") == []
    assert links_from_body("") == []


def test_a_lone_angle_bracket_does_not_make_a_body_html():
    assert not is_html("if a < b > c then https://example.com/x")
    assert is_html("Hello<br>there")
    assert is_html("<p>Hi</p>")
