import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import { useAuth } from './stores/auth'

// meta.roles: who may open the screen (the services enforce it again, with the region, in SQL).
export const GOV = ['province_admin', 'city_admin', 'county_admin', 'inspector', 'expert', 'discipline']
export const ADMINS = ['province_admin', 'city_admin', 'county_admin']

export const routes: RouteRecordRaw[] = [
  { path: '/login', name: 'login', component: () => import('./views/LoginView.vue'), meta: { public: true, title: '登录' } },
  { path: '/public/draws/:id', name: 'public-draw', component: () => import('./views/PublicDrawView.vue'), meta: { public: true, title: '抽取结果公开验证' } },
  { path: '/public/draws', name: 'public-draw-find', component: () => import('./views/PublicDrawView.vue'), meta: { public: true, title: '抽取结果公开验证' } },
  { path: '/public/results', name: 'public-results', component: () => import('./views/lifecycle/PublicResultsView.vue'), meta: { public: true, title: '抽查检查结果查询' } },
  { path: '/draws/:id/projector', name: 'projector', component: () => import('./views/ProjectorView.vue'), meta: { roles: [...ADMINS, 'discipline'], title: '抽取仪式投屏' } },
  {
    path: '/',
    component: () => import('./components/AppLayout.vue'),
    children: [
      { path: '', name: 'home', component: () => import('./views/HomeView.vue'), meta: { title: '首页' } },
      { path: 'dashboard', name: 'dashboard', component: () => import('./views/DashboardView.vue'), meta: { roles: ['province_admin', 'city_admin', 'discipline'], title: '检查进度总览' } },
      { path: 'draws', name: 'draws', component: () => import('./views/DrawsView.vue'), meta: { roles: [...ADMINS, 'discipline'], title: '抽查计划与抽取' } },
      { path: 'draws/:id', name: 'draw', component: () => import('./views/DrawCeremonyView.vue'), meta: { roles: [...ADMINS, 'discipline'], title: '抽取仪式' } },
      { path: 'teams', name: 'teams', component: () => import('./views/TeamsView.vue'), meta: { roles: GOV, title: '检查组' } },
      { path: 'tasks', name: 'tasks', component: () => import('./views/TasksView.vue'), meta: { roles: ['province_admin', 'city_admin', 'county_admin', 'discipline'], title: '检查任务' } },
      { path: 'visits', name: 'visits', component: () => import('./views/VisitsView.vue'), meta: { roles: GOV, title: '检查日程' } },
      { path: 'discipline', name: 'audit', component: () => import('./views/AuditView.vue'), meta: { roles: ['discipline', 'province_admin'], title: '审计日志' } },
      // screens of the lifecycle services: shown in the menu once the gateway reaches the service
      { path: 'disclosure', name: 'disclosure', component: () => import('./views/lifecycle/DisclosureView.vue'), meta: { roles: [...ADMINS, 'discipline'], title: '结果公示', service: 'disclosure' } },
      { path: 'rectification', name: 'rectification', component: () => import('./views/lifecycle/RectificationView.vue'), meta: { roles: [...ADMINS, 'discipline', 'enterprise'], title: '整改', service: 'rectification' } },
      { path: 'risk', name: 'risk', component: () => import('./views/lifecycle/RiskView.vue'), meta: { roles: [...ADMINS, 'discipline'], title: '信用风险', service: 'risk' } },
      // on-site inspection (phone-first): the team members' screens
      { path: 'inspection', name: 'inspection', component: () => import('./views/inspection/InspectionTasksView.vue'), meta: { roles: ['inspector', 'expert'], title: '现场检查', service: 'inspection' } },
      { path: 'inspection/tasks/:taskId/arrival', name: 'inspection-arrival', component: () => import('./views/inspection/ArrivalView.vue'), meta: { roles: ['inspector', 'expert'], title: '到场签到' } },
      { path: 'inspection/records/:id', name: 'inspection-record', component: () => import('./views/inspection/RecordView.vue'), meta: { roles: ['inspector', 'expert'], title: '监督检查记录表' } },
      // ---- W2 (web-office): enterprise portal, case detail, disclosure workflow and subscriptions
      { path: 'enterprise', name: 'enterprise', component: () => import('./views/enterprise/EnterprisePortalView.vue'), meta: { roles: ['enterprise'], title: '企业服务' } },
      { path: 'rectification/cases/:id', name: 'case', component: () => import('./views/lifecycle/CaseView.vue'), meta: { roles: [...ADMINS, 'discipline', 'enterprise'], title: '整改案件', service: 'rectification' } },
      { path: 'disclosure/results/:id', name: 'result', component: () => import('./views/lifecycle/ResultView.vue'), meta: { roles: [...ADMINS, 'discipline'], title: '检查结果公示', service: 'disclosure' } },
      { path: 'disclosure/subscriptions', name: 'subscriptions', component: () => import('./views/lifecycle/SubscriptionsView.vue'), meta: { roles: ['province_admin', 'discipline'], title: '公示订阅与投递', service: 'disclosure' } },
      // ---- end W2
      { path: 'forbidden', name: 'forbidden', component: () => import('./views/ForbiddenView.vue'), meta: { title: '无权访问' } },
      { path: ':pathMatch(.*)*', name: 'not-found', component: () => import('./views/NotFoundView.vue'), meta: { title: '页面不存在' } },
    ],
  },
]

export function createAppRouter() {
  const router = createRouter({ history: createWebHistory(), routes })
  router.beforeEach(async (to) => {
    const auth = useAuth()
    if (to.meta.public) return true
    await auth.restore()
    if (!auth.loggedIn) return { name: 'login', query: to.fullPath !== '/' ? { next: to.fullPath } : {} }
    const roles = to.meta.roles as string[] | undefined
    if (roles && !auth.hasRole(...roles)) return { name: 'forbidden' }
    return true
  })
  router.afterEach((to) => {
    document.title = `${(to.meta.title as string) ?? ''} · 双随机、一公开 监督检查系统`
  })
  return router
}
