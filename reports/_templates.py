"""Jinja2 templates of the static HTML report (autoescaped; no scripts, no external resources)."""

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem auto;max-width:1200px;
padding:0 1rem;color:#1f2328;line-height:1.4}
h1{font-size:1.5rem}h2{font-size:1.25rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem;margin-top:2rem}
h3{font-size:1.05rem}table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.85rem}
th,td{border:1px solid #d0d7de;padding:.2rem .5rem;vertical-align:top}th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}.caption{font-size:.8rem;color:#57606a}
.n{color:#57606a;font-size:.75rem}pre{background:#f6f8fa;border:1px solid #d0d7de;padding:.5rem;overflow:auto;
max-height:28rem;font-size:.78rem;white-space:pre-wrap;word-break:break-word}
.pass{color:#1a7f37;font-weight:600}.fail,.timeout{color:#cf222e;font-weight:600}.error{color:#9a6700;font-weight:600}
.add{background:#dafbe1;display:block}.del{background:#ffebe9;display:block}.hunk{color:#8250df;display:block}.ctx{display:block}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:.1rem 1rem;font-size:.85rem}dt{font-weight:600}
img.plot{max-width:100%;border:1px solid #d0d7de;margin:.3rem}details{margin:.3rem 0}summary{cursor:pointer}
"""

BASE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{% block title %}{% endblock %}</title><style>{{ css }}</style></head>
<body>{% block body %}{% endblock %}</body></html>
"""

MACROS = """
{% macro grid(t) -%}
<table class="{{ t.cls }}">
<thead>{% for hrow in t.header %}<tr>{% for text, span in hrow %}<th{% if span > 1 %} colspan="{{ span }}"{% endif %}>{{ text }}</th>{% endfor %}</tr>{% endfor %}</thead>
<tbody>{% for row in t.body %}<tr>{% for text, num in row %}<td{% if num %} class="num"{% endif %}>{{ text }}</td>{% endfor %}</tr>{% endfor %}</tbody>
</table>
{%- if t.caption %}<div class="caption">{{ t.caption }}</div>{% endif %}
{%- endmacro %}
"""

INDEX = MACROS + """{% extends "base" %}
{% block title %}adaptbench report: {{ run.run_id }}{% endblock %}
{% block body %}
<h1>adaptbench report: <code>{{ run.run_id }}</code></h1>
<dl class="meta">{% for key, value in meta %}<dt>{{ key }}</dt><dd>{{ value }}</dd>{% endfor %}</dl>
<nav><a href="#passk">Pass@k tables</a> · {% if rounds %}<a href="#rounds">Rounds</a> · {% endif %}{% if edits %}<a href="#edits">Edits</a> · {% endif %}<a href="#cost">Cost against success</a> ·
<a href="#plots">Plots</a> · <a href="#failures">Failure analysis</a> · <a href="#usage">Cost and usage</a> · <a href="#samples">Samples</a></nav>
<h2 id="passk">Pass@{{ k }} tables</h2>
{% for t in tables %}<h3 id="table-{{ t.key }}">{{ t.title }}</h3>{{ grid(t) }}{% endfor %}
{% if rounds %}<h2 id="rounds">Rounds</h2>
<h3>{{ rounds.title }}</h3>{{ grid(rounds) }}<h3>{{ round_failures.title }}</h3>{{ grid(round_failures) }}{% endif %}
{% if edits %}<h2 id="edits">Edits</h2><h3>{{ edits.title }}</h3>{{ grid(edits) }}{% endif %}
<h2 id="cost">Cost against success</h2>
{{ grid(costs) }}
{% if cost_plot %}<img class="plot" id="cost-plot" alt="accuracy against cost, with the Pareto front" title="accuracy against cost" src="data:image/png;base64,{{ cost_plot }}">{% endif %}
<h2 id="plots">Plots</h2>
{% for name, data in plots %}<img class="plot" alt="{{ name }}" title="{{ name }}" src="data:image/png;base64,{{ data }}">{% endfor %}
{% if not plots %}<p>No plots.</p>{% endif %}
<h2 id="failures">Failure analysis</h2>
{% for t in failures %}<h3>{{ t.title }}</h3>{{ grid(t) }}{% endfor %}
<h2 id="usage">Cost and usage</h2>
{{ grid(usage) }}
<h2 id="samples">Samples ({{ samples|length }})</h2>
{% for task_id, rows in samples|groupby("task_id") %}
<details class="task"><summary>{{ task_id }}: {{ rows|selectattr("passed")|list|length }}/{{ rows|length }} passed</summary>
<table class="samples"><thead><tr><th>model</th><th>T</th><th>setting</th><th>retrieval</th><th>#</th><th>verdict</th>
<th>category</th><th>code</th><th>attempts</th></tr></thead><tbody>
{% for s in rows %}<tr><td>{{ s.model }}</td><td class="num">{{ s.temperature }}</td><td>{{ s.setting }}</td>
<td>{{ s.retrieval }}</td><td class="num"><a class="sample-link" href="{{ s.href }}">{{ s.index }}</a></td>
<td class="{{ s.status }}">{{ s.status }}</td><td>{{ s.category }}</td><td>{{ s.code }}</td><td class="num">{{ s.attempts }}</td></tr>{% endfor %}
</tbody></table></details>
{% endfor %}
{% endblock %}
"""

SAMPLE = MACROS + """{% extends "base" %}
{% block title %}{{ s.task_id }} · {{ s.model }} · sample {{ s.index }}{% endblock %}
{% block body %}
<p><a href="../index.html#samples">← back to the report</a></p>
<h1>{{ s.task_id }} · {{ s.model }} · T={{ s.temperature }} · {{ s.setting }} · sample {{ s.index }}</h1>
<h2 id="verdict">Verdict: <span class="{{ s.status }}">{{ s.status }}</span> ({{ s.category }})</h2>
<dl class="meta">{% for key, value in s.meta %}<dt>{{ key }}</dt><dd>{{ value }}</dd>{% endfor %}</dl>
<p>{{ s.reason }}</p>
{% if s.checks %}<table class="checks"><thead><tr><th>check</th><th>passed</th><th>code</th><th>reason</th></tr></thead><tbody>
{% for c in s.checks %}<tr><td>{{ c.name }}</td><td class="{{ 'pass' if c.passed else 'fail' }}">{{ c.passed }}</td>
<td>{{ c.code }}</td><td>{{ c.reason }}</td></tr>{% endfor %}</tbody></table>{% endif %}
<h2 id="attempts">Attempts ({{ s.attempts_list|length }}){% if s.cost %}, cost {{ s.cost }} USD{% endif %}</h2>
<table class="attempts"><thead><tr><th>round</th><th>model</th><th>verdict</th><th>code</th><th>reason</th><th>extraction</th>
<th>well-formed edit</th><th>cost (USD)</th></tr></thead><tbody>
{% for a in s.attempts_list %}<tr><td class="num">{{ a.round }}</td><td>{{ a.model }}</td><td class="{{ a.status }}">{{ a.status }}</td>
<td>{{ a.code }}</td><td>{{ a.reason }}</td><td>{{ a.extraction }}</td><td>{{ a.well_formed }}</td><td class="num">{{ a.cost }}</td></tr>{% endfor %}
</tbody></table>
{% if s.attempts_list|length > 1 %}{% for a in s.attempts_list %}
<details class="attempt"{% if loop.last %} open{% endif %}><summary>Round {{ a.round }} · {{ a.model }} · {{ a.status }} ({{ a.code }})</summary>
<dl class="meta"><dt>cost</dt><dd>{{ a.cost_detail }}</dd><dt>tokens in / out</dt><dd>{{ a.tokens }}</dd></dl>
{% if a.feedback %}<h4>Feedback shown</h4><pre class="feedback">{{ a.feedback }}</pre>{% else %}<p>Asked with the task's own prompt.</p>{% endif %}
<h4>Answer</h4><pre class="answer">{{ a.answer }}</pre>
<h4>Code after this attempt</h4>{% if a.extracted is none %}<p>No code: {{ a.extraction }}</p>{% else %}<pre class="extracted">{{ a.extracted }}</pre>{% endif %}
</details>{% endfor %}{% endif %}
<h2 id="prompt">Prompt</h2>
{% for m in s.messages %}<details{% if loop.last %} open{% endif %}><summary>{{ m.role }}</summary><pre>{{ m.content }}</pre></details>{% endfor %}
{% if not s.messages %}<p>The prompt was not recorded.</p>{% endif %}
{% if s.retrieved %}<h2 id="retrieved">Retrieved documents ({{ s.retrieved|length }})</h2>
{% for title, text in s.retrieved %}<details><summary>{{ title }}</summary><pre>{{ text }}</pre></details>{% endfor %}{% endif %}
<h2 id="completion">Completion</h2>
<dl class="meta">{% for key, value in s.completion_meta %}<dt>{{ key }}</dt><dd>{{ value }}</dd>{% endfor %}</dl>
<pre class="completion">{{ s.completion }}</pre>
<h2 id="diff">Extracted code against the input script</h2>
{% if s.diff is none %}<p>{{ s.diff_note }}</p>
{% else %}{% if s.diff_note %}<p>{{ s.diff_note }}</p>{% endif %}<pre class="diff">{% for cls, line in s.diff %}<span class="{{ cls }}">{{ line or " " }}</span>{% endfor %}</pre>{% endif %}
<h2 id="execution">Execution</h2>
{% if s.execution %}<dl class="meta">{% for key, value in s.execution %}<dt>{{ key }}</dt><dd>{{ value }}</dd>{% endfor %}</dl>
<h3>stdout (tail)</h3><pre class="stdout">{{ s.stdout }}</pre><h3>stderr (tail)</h3><pre class="stderr">{{ s.stderr }}</pre>
{% else %}<p>Not executed.</p>{% endif %}
{% endblock %}
"""
