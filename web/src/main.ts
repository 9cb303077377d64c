import { createApp } from 'vue'
import { createPinia } from 'pinia'
import 'element-plus/dist/index.css'
import './style.css'
import App from './App.vue'
import { createAppRouter } from './router'
import { setTokenSource } from './api/client'
import { useAuth } from './stores/auth'

const app = createApp(App)
const pinia = createPinia()
app.use(pinia)
const router = createAppRouter()
app.use(router)

const auth = useAuth(pinia)
setTokenSource({
  token: () => auth.token(),
  onUnauthorized: () => {
    auth.expired()
    const here = router.currentRoute.value
    if (!here.meta.public) void router.push({ name: 'login', query: { next: here.fullPath } })
  },
})
app.mount('#app')
