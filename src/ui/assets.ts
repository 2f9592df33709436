/** The pages' stylesheet and their one small script (sorting, copy, search-as-you-type), inlined so a page or a report file needs no other request. */

export const STYLE = `
:root{color-scheme:light dark;--bg:#f7f7f5;--panel:#fff;--fg:#1c1d1f;--muted:#62666d;--line:#e3e3df;--code:#f2f2ee;
--accent:#c2410c;--accent-soft:#fbe3d3;--trigger:#1d4ed8;--trigger-soft:#dbe6fd;--other:#a3a7ae;--good:#15803d;--link:#1d4ed8;
--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
@media (prefers-color-scheme:dark){:root{--bg:#141517;--panel:#1c1e21;--fg:#e7e7e4;--muted:#9ca0a7;--line:#2e3136;--code:#23262a;
--accent:#fb923c;--accent-soft:#4a2a17;--trigger:#7aa2ff;--trigger-soft:#1f2c4d;--other:#5d626a;--good:#4ade80;--link:#8db3ff}}
*{box-sizing:border-box}
[hidden]{display:none!important}
.custom{display:contents}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
a{color:var(--link);text-underline-offset:2px}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,summary:focus-visible{outline:2px solid var(--link);outline-offset:2px;border-radius:3px}
header.top{background:var(--panel);border-bottom:1px solid var(--line)}
header.top .in{display:flex;gap:1rem;align-items:center;flex-wrap:wrap}
.brand{font-weight:700;letter-spacing:-.01em;text-decoration:none;color:var(--fg);font-size:1.05rem}
.brand span{color:var(--accent)}
.in{max-width:1180px;margin:0 auto;padding:.75rem 1.25rem}
main.in{padding-top:1.25rem;padding-bottom:3rem}
nav.crumbs{font-size:.875rem;color:var(--muted);overflow-wrap:anywhere}
nav.crumbs a{color:var(--muted)}
h1{font-size:1.5rem;line-height:1.25;margin:.25rem 0 .5rem;letter-spacing:-.015em;overflow-wrap:anywhere}
h2{font-size:1.1rem;margin:2rem 0 .75rem;letter-spacing:-.01em}
h3{font-size:1rem;margin:1.25rem 0 .5rem}
p{margin:.5rem 0}
.muted{color:var(--muted)}
.small{font-size:.85rem}
code,pre,kbd{font-family:var(--mono);font-size:.85em}
pre code{font-size:inherit}
code{overflow-wrap:anywhere}
pre{background:var(--code);border:1px solid var(--line);border-radius:8px;padding:.75rem .9rem;margin:.5rem 0;overflow-x:auto;max-width:100%;white-space:pre;line-height:1.45;tab-size:4}
pre.wrap{white-space:pre-wrap;overflow-wrap:anywhere}
.panel{background:var(--panel);border:1px solid var(--line);border-radius:10px;padding:1rem 1.1rem;min-width:0}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:.75rem;margin:1rem 0}
.stat{background:var(--panel);border:1px solid var(--line);border-radius:10px;padding:.7rem .9rem;min-width:0}
.stat b{display:block;font-size:1.35rem;font-variant-numeric:tabular-nums;letter-spacing:-.01em}
.stat span{color:var(--muted);font-size:.8rem}
.stat span.outside{display:block}
.stat.hot b{color:var(--accent)}
form.filters{display:flex;flex-wrap:wrap;gap:.6rem .9rem;align-items:flex-end;margin:1rem 0}
form.filters label{display:flex;flex-direction:column;font-size:.75rem;color:var(--muted);gap:.2rem;min-width:0}
form.filters .grow{flex:1 1 14rem}
input,select,button{font:inherit;font-size:.9rem;color:var(--fg);background:var(--panel);border:1px solid var(--line);border-radius:7px;padding:.4rem .55rem;max-width:100%}
button{cursor:pointer;background:var(--fg);color:var(--bg);border-color:var(--fg);font-weight:600}
button.ghost{background:var(--panel);color:var(--fg);border-color:var(--line);font-weight:500}
.ranges{display:flex;gap:0;border:1px solid var(--line);border-radius:7px;overflow:hidden;background:var(--panel)}
.ranges a{padding:.4rem .65rem;text-decoration:none;color:var(--fg);font-size:.85rem;border-right:1px solid var(--line)}
.ranges a:last-child{border-right:0}
.ranges a[aria-current]{background:var(--fg);color:var(--bg);font-weight:600}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
table.list{background:var(--panel);border:1px solid var(--line);border-radius:10px;overflow:hidden;border-style:hidden;box-shadow:0 0 0 1px var(--line)}
th,td{text-align:left;padding:.6rem .7rem;border-bottom:1px solid var(--line);vertical-align:middle}
th{font-size:.75rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);font-weight:600;white-space:nowrap}
th a{color:inherit;text-decoration:none}
th a:hover{color:var(--fg)}
th[aria-sort] a::after{content:" ↓"}
th[aria-sort=ascending] a::after{content:" ↑"}
td.n,th.n{text-align:right}
tr:last-child td{border-bottom:0}
tbody tr:hover{background:color-mix(in srgb,var(--fg) 3%,transparent)}
td.ep{min-width:0;overflow-wrap:anywhere}
td.ep a{font-weight:600;text-decoration:none;color:var(--fg)}
td.ep a:hover{text-decoration:underline}
.rank{color:var(--muted);width:2rem}
.badge{display:inline-block;font-size:.72rem;font-weight:600;padding:.05rem .45rem;border-radius:999px;border:1px solid var(--line);color:var(--muted);margin:.15rem .25rem 0 0;white-space:nowrap}
.badge.n_plus_one,.badge.repeated_write{color:var(--accent);border-color:var(--accent);background:var(--accent-soft)}
.spark{display:block;width:140px;height:34px}
.spark .w{fill:var(--accent);opacity:.85}
.spark .q{fill:none;stroke:var(--trigger);stroke-width:1.5}
.chart{width:100%;height:auto;display:block}
.chart .w{fill:var(--accent)}
.chart .a{fill:var(--trigger);opacity:.9}
.chart .q{fill:none;stroke:var(--trigger);stroke-width:2}
.chart .dot{fill:var(--trigger)}
.chart text{fill:var(--muted);font-size:12px;font-family:system-ui,sans-serif}
.chart.wide{max-height:240px}
.chart .grid{stroke:var(--line)}
.grid2{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:1rem}
.findings{display:flex;flex-direction:column;gap:1rem}
.finding{background:var(--panel);border:1px solid var(--line);border-radius:10px;padding:1rem 1.1rem;min-width:0}
.finding h3{margin:0 0 .35rem;display:flex;gap:.5rem;flex-wrap:wrap;align-items:baseline;overflow-wrap:anywhere}
.finding .meta{display:flex;flex-wrap:wrap;gap:.25rem 1.1rem;font-size:.85rem;color:var(--muted)}
.finding .meta b{color:var(--fg);font-variant-numeric:tabular-nums}
.codehead{display:flex;justify-content:space-between;align-items:center;gap:.5rem;margin-top:.75rem;font-size:.8rem;color:var(--muted)}
.codehead button{font-size:.78rem;padding:.2rem .6rem}
.finding p,.panel p{overflow-wrap:anywhere}
.note{overflow-wrap:anywhere;border-left:3px solid var(--accent);padding:.35rem .75rem;margin:.6rem 0;background:var(--accent-soft);border-radius:0 6px 6px 0;font-size:.9rem}
.note.read{border-color:var(--trigger);background:var(--trigger-soft)}
dl.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.35rem 1rem;margin:.5rem 0;font-size:.9rem}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0;overflow-wrap:anywhere;font-variant-numeric:tabular-nums}
.wf{width:100%;height:auto;display:block;font-family:system-ui,sans-serif}
.wf text{fill:var(--fg);font-size:12px}
.wf text.m{fill:var(--muted);font-size:11px}
.wf .grid{stroke:var(--line)}
.wf .lane{fill:color-mix(in srgb,var(--fg) 2.5%,transparent)}
.wf .lane.repeat{fill:var(--accent-soft)}
.wf .lane.trigger{fill:var(--trigger-soft)}
.wf rect.bar{fill:var(--other)}
.wf rect.bar.repeat{fill:var(--accent)}
.wf rect.bar.trigger{fill:var(--trigger)}
.wfall{background:var(--panel);border:1px solid var(--line);border-radius:10px;padding:.4rem .9rem .6rem;min-width:0}
.wf-row{display:grid;grid-template-columns:minmax(0,19rem) minmax(0,1fr);gap:.75rem;align-items:center;padding:.2rem 0;border-top:1px solid var(--line)}
.wf-row.wf-axis{border-top:0}
.wf-label{font-size:.82rem;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;min-width:0}
.wf-row.repeat .wf-label code,.wf-row.trigger .wf-label code{font-weight:700}
.wf-ticks{position:relative;height:1.1rem;font-size:.7rem;color:var(--muted)}
.wf-ticks span{position:absolute;top:0;transform:translateX(-50%);white-space:nowrap}
.wf-ticks span:first-child{transform:none}
.wf-track{display:block;width:100%;height:18px}
.wf-track .grid{stroke:var(--line)}
.wf-track rect.bar{fill:var(--other)}
.wf-track rect.bar.repeat{fill:var(--accent)}
.wf-track rect.bar.trigger{fill:var(--trigger)}
.wf-row.repeat{background:color-mix(in srgb,var(--accent) 7%,transparent)}
.wf-row.trigger{background:color-mix(in srgb,var(--trigger) 7%,transparent)}
form.decision fieldset{border:0;padding:0;margin:0 0 .5rem;display:flex;flex-wrap:wrap;gap:.35rem 1.5rem}
form.decision fieldset label{display:flex;gap:.4rem;align-items:center}
.decision-fields{display:flex;flex-wrap:wrap;gap:.6rem .9rem;align-items:flex-end}
.decision-fields label{display:flex;flex-direction:column;font-size:.75rem;color:var(--muted);gap:.2rem;min-width:0}
.decision-fields .grow{flex:1 1 16rem}
.legend{display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;font-size:.82rem;color:var(--muted);margin:.5rem 0}
.legend i{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;vertical-align:-1px;margin-right:.35rem}
.legend .trigger{background:var(--trigger)}.legend .repeat{background:var(--accent)}.legend .other{background:var(--other)}
.lanes{list-style:none;padding:0;margin:.5rem 0;font-size:.85rem}
.lanes li{display:grid;grid-template-columns:7.5rem minmax(0,1fr);gap:.75rem;padding:.35rem 0;border-top:1px solid var(--line)}
.lanes li code{overflow-wrap:anywhere}
.role{font-weight:600}
.role.repeat{color:var(--accent)}.role.trigger{color:var(--trigger)}
.empty{padding:2rem;text-align:center;color:var(--muted);background:var(--panel);border:1px dashed var(--line);border-radius:10px}
.err{border:1px solid var(--accent);background:var(--accent-soft);padding:.6rem .9rem;border-radius:8px}
footer{color:var(--muted);font-size:.8rem;margin-top:2.5rem}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
section.view{scroll-margin-top:1rem}
@media (max-width:760px){
  .in{padding:.6rem .85rem}
  h1{font-size:1.25rem}
  .grid2{grid-template-columns:minmax(0,1fr)}
  table.list thead{display:none}
  table.list,table.list tbody,table.list td{display:block;width:100%}
  table.list tr{display:flex;flex-wrap:wrap;align-items:baseline;padding:.65rem .8rem;border-bottom:1px solid var(--line)}
  table.list tr[hidden]{display:none}
  table.list td{border:0;padding:.1rem 0;text-align:left}
  table.list td.n{display:inline-block;width:auto;margin-right:1rem;font-size:.85rem}
  table.list td.n::before{content:attr(data-label) " ";color:var(--muted)}
  table.list td.rank{display:none}
  table.list td.trend{order:1;margin-top:.35rem}
  .spark{width:100%;max-width:320px}
  dl.facts{grid-template-columns:minmax(0,1fr)}
  dl.facts dd{margin-bottom:.35rem}
  .lanes li{grid-template-columns:minmax(0,1fr);gap:.1rem}
  .wf-row{grid-template-columns:minmax(0,1fr);gap:.1rem}
  .wf-row.wf-axis .wf-label{display:none}
}
@media print{header.top form,button{display:none}}
`;

/**
 * Enhancements only: every page works without it. Sorts a table in place when a header link is
 * followed (the server sorts the same way without JS), copies code blocks, filters the overview's
 * rows as the search box is typed in, and shows the custom date inputs only for a custom range.
 */
export const SCRIPT = `
(function(){
  document.querySelectorAll('[data-copy]').forEach(function(b){
    b.hidden=false;
    b.addEventListener('click',function(){
      var el=document.getElementById(b.getAttribute('data-copy'));if(!el)return;
      var text=el.textContent||'';
      var done=function(){var t=b.textContent;b.textContent='Copied';setTimeout(function(){b.textContent=t},1500)};
      if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(text).then(done,fallback)}else fallback();
      function fallback(){var r=document.createRange();r.selectNodeContents(el);var s=getSelection();s.removeAllRanges();s.addRange(r);try{document.execCommand('copy');done()}catch(e){}}
    });
  });
  document.querySelectorAll('table[data-sortable]').forEach(function(table){
    var body=table.tBodies[0];
    table.querySelectorAll('th[data-col] a').forEach(function(a){
      a.addEventListener('click',function(ev){
        ev.preventDefault();
        var th=a.parentNode,col=th.getAttribute('data-col'),idx=[].indexOf.call(th.parentNode.children,th);
        var dir=th.getAttribute('aria-sort')==='descending'?'ascending':'descending';
        if(!th.hasAttribute('aria-sort')&&col==='endpoint')dir='ascending';
        table.querySelectorAll('th[aria-sort]').forEach(function(h){h.removeAttribute('aria-sort')});
        th.setAttribute('aria-sort',dir);
        var rows=[].slice.call(body.rows);
        rows.sort(function(x,y){
          var p=x.cells[idx].getAttribute('data-v'),q=y.cells[idx].getAttribute('data-v');
          var c=(isNaN(+p)||isNaN(+q))?String(p).localeCompare(String(q)):(+p)-(+q);
          return dir==='ascending'?c:-c;
        });
        rows.forEach(function(r){body.appendChild(r)});
        var u=new URL(location.href);u.searchParams.set('sort',col);u.searchParams.set('dir',dir==='ascending'?'asc':'desc');
        history.replaceState(null,'',u);
      });
    });
  });
  var q=document.querySelector('input[data-live]');
  if(q){
    var rows=[].slice.call(document.querySelectorAll('[data-search]'));
    var count=document.getElementById('shown');
    q.addEventListener('input',function(){
      var t=q.value.trim().toLowerCase(),n=0;
      rows.forEach(function(r){var hit=!t||r.getAttribute('data-search').indexOf(t)>=0;r.hidden=!hit;if(hit)n++});
      if(count)count.textContent=String(n);
    });
  }
  var range=document.querySelector('select[name=range]');
  var custom=document.querySelector('[data-custom]');
  if(range&&custom){var sync=function(){custom.hidden=range.value!=='custom'};sync();range.addEventListener('change',sync)}
})();
`;
