"""Start-tag tagging keeps lines intact and knows where CSS positions are counted from."""

from render_service.web.tagging import TagLines, tag_html


def test_every_start_tag_gets_its_index_and_line():
    html = '<!doctype html>\n<HTML><body>\n <p class=x>hi<br/>\n<img src="a.png"></p></body>'
    tagged, lines = tag_html(html)
    assert tagged.count("\n") == html.count("\n")
    assert '<HTML data-vsl="0">' in tagged
    assert '<br data-vsl="3"/>' in tagged
    assert [t.tag for t in lines] == [2, 2, 3, 3, 4]


def test_style_text_and_style_attribute_lines():
    html = (
        '<style>\n.a { color: red }\n</style>\n<p id="p"\n   style="width: 3px;\n margin: 0">x</p>'
    )
    _, lines = tag_html(html)
    assert lines[0] == TagLines(tag=1, content=1, style_attr=1)
    assert lines[1] == TagLines(tag=4, content=6, style_attr=5)


def test_script_text_is_not_parsed_as_tags():
    tagged, lines = tag_html("<script>if (a<b && c>d) {}</script><p>x</p>")
    assert len(lines) == 2
    assert "if (a<b && c>d) {}" in tagged
