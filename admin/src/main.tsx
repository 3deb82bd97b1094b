import { Route, Router } from "@solidjs/router";
import { lazy } from "solid-js";
import { render } from "solid-js/web";
import { Layout } from "./Layout";
import "./styles/base.css";
import "./styles/components.css";
import "./styles/views.css";
import "./styles/connection.css";

// Each page is its own chunk, so the first load carries only the shell and the page it shows.
const Overview = lazy(() => import("./pages/Overview"));
const MediaList = lazy(() => import("./pages/MediaList"));
const MediaDetail = lazy(() => import("./pages/MediaDetail"));
const Failures = lazy(() => import("./pages/Failures"));
const Plan = lazy(() => import("./pages/Plan"));
const Jobs = lazy(() => import("./pages/Jobs"));
const Trash = lazy(() => import("./pages/Trash"));
const Audit = lazy(() => import("./pages/Audit"));
const Attestations = lazy(() => import("./pages/Attestations"));
const Reconciliation = lazy(() => import("./pages/Reconciliation"));
const NotFound = lazy(() => import("./pages/NotFound"));

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root element");

render(
  () => (
    <Router root={Layout}>
      <Route path="/" component={Overview} />
      <Route path="/media" component={MediaList} />
      <Route path="/media/:id" component={MediaDetail} />
      <Route path="/failures" component={Failures} />
      <Route path="/plan" component={Plan} />
      <Route path="/jobs" component={Jobs} />
      <Route path="/trash" component={Trash} />
      <Route path="/audit" component={Audit} />
      <Route path="/attestations" component={Attestations} />
      <Route path="/reconciliation" component={Reconciliation} />
      <Route path="*" component={NotFound} />
    </Router>
  ),
  root,
);
